from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """Renders every form field with templates/components/field.html (label, input, help, errors)."""

    field_template_name = "components/field.html"
