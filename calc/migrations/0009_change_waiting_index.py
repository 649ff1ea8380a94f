"""The waiting changes get an index of their own; the decision's own index goes (the log's
two indexes start with it)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("calc", "0008_change_log_appended"),
        ("democracy", "0004_decision_calc_kept_by"),
    ]

    operations = [
        migrations.AlterField(
            model_name="change",
            name="decision",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="democracy.decision",
            ),
        ),
        migrations.AddIndex(
            model_name="change",
            index=models.Index(
                condition=models.Q(("generation__isnull", True)),
                fields=["decision"],
                name="change_waiting",
            ),
        ),
    ]
