DROP TABLE intervention_payloads;
DROP TABLE intervention_templates;
DROP TABLE intervention_fields;
DROP TABLE interventions;
