from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField
from wtforms.validators import InputRequired, Optional

from app.web.groups.forms import MultiCheckboxField
from app.web.input_bounds import parse_id


class TeamForm(FlaskForm):
    lead_facilitator_id = SelectField("Lead facilitator", coerce=parse_id,
                                      validators=[InputRequired("Choose a lead facilitator")])
    cover_facilitator_ids = MultiCheckboxField("Cover facilitators", coerce=parse_id, validators=[Optional()])
    accepted = HiddenField()
