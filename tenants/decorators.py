from functools import wraps

from django.contrib.auth.views import redirect_to_login


def organization_required(view):
    """For views under /o/<slug>/: the middleware has checked membership; this keeps a view from being
    mounted elsewhere by mistake, where request.organization would be None."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.organization is None:
            raise RuntimeError(f"{view.__name__} must be mounted under /o/<org_slug>/")
        return view(request, *args, **kwargs)

    return wrapper
