"""Sans-I/O wire formats: HTTP/1.1 framing, parameters, Nacos JSON encoding."""
