ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_endpoint_id_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_endpoint_id_event_id_key UNIQUE (endpoint_id, event_id);

ALTER TABLE deliveries
    ADD CONSTRAINT deliveries_endpoint_id_fkey
        FOREIGN KEY (endpoint_id) REFERENCES endpoints (id) ON DELETE CASCADE,
    ADD CONSTRAINT deliveries_event_id_fkey
        FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE;
ALTER TABLE delivery_attempts
    ADD CONSTRAINT delivery_attempts_delivery_id_fkey
        FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE;
