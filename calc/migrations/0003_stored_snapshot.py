"""Move each calculation's snapshot into a table of its own (StoredSnapshot)."""

import django.db.models.deletion
from django.db import migrations, models


def move_snapshots(apps, schema_editor):
    Calculation = apps.get_model("calc", "Calculation")
    StoredSnapshot = apps.get_model("calc", "StoredSnapshot")
    stored = Calculation.objects.exclude(snapshot=None).values_list("pk", "snapshot")
    for pk, snapshot in stored.iterator(chunk_size=100):
        # The columns are left empty: readers fall back to the canonical JSON.
        StoredSnapshot.objects.create(calculation_id=pk, canonical=bytes(snapshot))


def move_snapshots_back(apps, schema_editor):
    Calculation = apps.get_model("calc", "Calculation")
    StoredSnapshot = apps.get_model("calc", "StoredSnapshot")
    for stored in StoredSnapshot.objects.iterator(chunk_size=100):
        Calculation.objects.filter(pk=stored.pk).update(snapshot=stored.canonical)


class Migration(migrations.Migration):
    dependencies = [
        ("calc", "0002_calculation_change_count"),
    ]

    operations = [
        migrations.CreateModel(
            name="StoredSnapshot",
            fields=[
                (
                    "calculation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="stored_snapshot",
                        serialize=False,
                        to="calc.calculation",
                    ),
                ),
                ("canonical", models.BinaryField()),
                ("columns", models.BinaryField(blank=True, default=b"")),
            ],
        ),
        migrations.RunPython(move_snapshots, move_snapshots_back),
        migrations.RemoveField(
            model_name="calculation",
            name="snapshot",
        ),
    ]
