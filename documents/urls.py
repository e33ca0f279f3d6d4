from django.urls import path

from . import views

app_name = "documents"

urlpatterns = [
    path("", views.document_list_view, name="list"),
    path("<int:document_id>/", views.document_detail, name="detail"),
]
