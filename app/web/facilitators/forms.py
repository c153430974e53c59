from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField
from wtforms.validators import InputRequired, Optional

from app.web.groups.forms import MultiCheckboxField


class TeamForm(FlaskForm):
    lead_facilitator_id = SelectField("Lead facilitator", coerce=int,
                                      validators=[InputRequired("Choose a lead facilitator")])
    cover_facilitator_ids = MultiCheckboxField("Cover facilitators", coerce=int, validators=[Optional()])
    accepted = HiddenField()
