"""Generate the chart's derived files (RBAC rules, CRD copies, values.yaml, values.schema.json)."""
