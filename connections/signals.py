from django.dispatch import Signal

# Sent inside the merge's transaction, before the merged account is deleted: receivers move their own rows
# from `merged` to `survivor` (arguments: survivor, merged, actor). Raising aborts the whole merge.
supplier_accounts_merging = Signal()

# Sent inside the transaction that saves a new connection request (argument: request): notifications writes
# the emails to the customer here.
connection_request_sent = Signal()
