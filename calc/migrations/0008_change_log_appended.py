"""Changes are appended without a generation; a worker stamps them before its snapshot."""

from django.db import migrations, models
from django.db.models import F


def back_to_one_change_per_generation(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Undo: the old layout bumped the decision per change and logged one per generation.

    Decisions with changes waiting get a generation for them, so a worker still calculates
    them; the log goes, and the next calculation of each decision reads it whole.
    """
    change = apps.get_model("calc", "Change")
    decision = apps.get_model("democracy", "Decision")
    waiting = change.objects.filter(generation__isnull=True).values("decision_id")
    decision.objects.filter(pk__in=waiting).update(calc_requested_gen=F("calc_requested_gen") + 1)
    change.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("calc", "0007_results_as_json_text"),
        ("democracy", "0004_decision_calc_kept_by"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="change", name="change_once"),
        migrations.AlterField(
            model_name="change",
            name="generation",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="change",
            index=models.Index(
                fields=["decision", "generation"], name="change_decision_generation"
            ),
        ),
        # Last, so that undoing runs it first, before the constraint comes back.
        migrations.RunPython(migrations.RunPython.noop, back_to_one_change_per_generation),
    ]
