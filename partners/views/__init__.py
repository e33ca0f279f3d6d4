"""Partner pages (partner.py), merchant pages (merchant.py) and the conversation both sides share
(requests.py)."""
