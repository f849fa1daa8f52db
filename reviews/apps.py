from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # checks registers the system checks. tasks registers the Celery tasks in every
        # process, not only the worker: the webhook publishes through app.tasks[...], which
        # raises NotRegistered in a web process that never imported the tasks module.
        from reviews import checks, tasks  # noqa: F401
