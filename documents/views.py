from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tenants.decorators import organization_required

from .forms import DocumentFilterForm
from .selectors import access_document, document_list


@require_GET
@organization_required
def document_list_view(request):
    form = DocumentFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    documents = document_list(
        organization=request.organization,
        kind=filters.get("kind") or None,
        query=filters.get("q", ""),
    )
    page = Paginator(documents, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    template = "documents/list.html"
    if request.htmx and request.htmx.target == "document-results":
        template += "#results"
    return render(
        request,
        template,
        {"form": form, "page": page, "filtered": bool(filters.get("kind") or filters.get("q"))},
    )


@require_GET
@organization_required
def document_detail(request, document_id: int):
    document = access_document(organization=request.organization, user=request.user, id=document_id)
    return render(
        request,
        "documents/detail.html",
        {"document": document, "counterpart": document.counterpart_of(request.organization)},
    )
