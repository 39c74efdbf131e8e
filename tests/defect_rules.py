"""The population mock's injected defect types and the rule that must catch each.

The contract between mocks/population and quality/: a new defect type fails the
tests until a rule is named for it here.
"""

RULE_FOR_DEFECT = {
    "malformed_id": "personal_id.format",
    "id_birth_mismatch": "personal_id.matches_birth_and_gender",
    "implausible_birth_date": "birth_date.plausible",
    "empty_name": "full_name.not_empty",
    "unknown_commune": "residence.commune_known",
    "death_before_birth": "death_date.after_birth",
    "duplicate_conflict": "personal_id.unique_in_run",
    "parent_younger_than_child": "parents.older_than_child",
}
