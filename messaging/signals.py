from django.dispatch import Signal

# Sent after the transaction that saved a message commits (arguments: message_id, conversation_id).
# notifications listens to it; nothing slow happens in the request itself.
message_posted = Signal()

# Sent inside the transaction that saves a message (argument: message). notifications writes its outbox rows
# here, so an email exists if and only if the message does.
message_saved = Signal()
