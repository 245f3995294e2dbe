"""The service task operators a process may name (engine.adapters.service_tasks carries them out)."""

OPERATORS = {  # operator id -> (HTTP method, parameters it takes, the required ones)
    "http/PostRequest": ("POST", {"url", "data", "headers"}, {"url"}),
    "http/PutRequest": ("PUT", {"url", "data", "headers"}, {"url"}),
    "http/GetRequest": ("GET", {"url", "params", "headers"}, {"url"}),
}
