"""Pictures of the flow: sequence diagram, service map, timeline, anomalies panel, and their shared look."""
