DROP TABLE intervention_tickets;
