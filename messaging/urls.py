from django.urls import path

from . import views

app_name = "messaging"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.compose, name="compose"),
    path("badge/", views.unread_badge, name="badge"),
    path("upgrade/", views.upgrade, name="upgrade"),
    path("<int:conversation_id>/", views.conversation, name="conversation"),
    path("<int:conversation_id>/live/", views.conversation_live, name="conversation_live"),
    path("documents/<int:document_id>/", views.document_messages, name="document_messages"),
    path("files/<int:attachment_id>/", views.attachment_download, name="attachment"),
]
