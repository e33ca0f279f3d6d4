"""Reads of purchase orders and invoices, always for one organization (its buyer or its supplier)."""

from django.db.models import Q, QuerySet
from django.http import Http404

from tenants.models import Organization, User

from .models import Document


def document_list(
    *, organization: Organization, kind: str | None = None, query: str = ""
) -> QuerySet[Document]:
    """Documents where the organization is the buyer or the supplier, newest first.

    kind narrows to purchase orders or invoices; query matches the document number (case-insensitive).
    """
    documents = Document.objects.filter(Q(buyer=organization) | Q(supplier=organization))
    if kind:
        documents = documents.filter(kind=kind)
    query = query.strip()
    if query:
        documents = documents.filter(number__icontains=query)
    return documents.select_related("buyer", "supplier").order_by("-issued_on", "-id")


def access_document(*, organization: Organization, user: User, id: int) -> Document:
    """One document of the organization. Http404 whether it does not exist or belongs to others."""
    document = document_list(organization=organization).filter(pk=id).first()
    if document is None:
        raise Http404
    return document
