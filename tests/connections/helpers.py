import base64
import html
import json
import re

import altcha


def solve_altcha(page: str) -> str:
    """Does what the ALTCHA widget does in the browser: solves the page's proof-of-work challenge."""
    match = re.search(r'challengejson="([^"]+)"', page)
    assert match, "no ALTCHA challenge on the page"
    challenge = json.loads(html.unescape(match.group(1)))
    solution = altcha.solve_challenge(
        challenge=challenge["challenge"],
        salt=challenge["salt"],
        algorithm=challenge["algorithm"],
        max_number=challenge.get("maxnumber") or challenge["max_number"],
    )
    payload = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": solution.number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()
