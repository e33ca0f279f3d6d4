from django.dispatch import Signal

# Sent inside the merge's transaction, before the merged account is deleted: receivers move their own rows
# from `merged` to `survivor` (arguments: survivor, merged, actor). Raising aborts the whole merge.
supplier_accounts_merging = Signal()
