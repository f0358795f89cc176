from services.core.errors import Conflict, NotFound, ValidationFailed


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    title = "Webhook subscription not found"


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"
    title = "Webhook delivery not found"


class WebhookUrlRefused(ValidationFailed):
    code = "webhook_url_refused"
    title = "Webhook URL refused"


class WebhookDisabled(Conflict):
    code = "webhook_disabled"
    title = "Webhook subscription is disabled"
