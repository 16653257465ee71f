"""Running the controller as a service: the building blocks `controller watch` wires together."""
