"""`perfkit init`: a scenario and a perfkit.yaml for the user's backend. openapi.py reads
the OpenAPI document, auth.py chooses how credentials are sent, plan.py plans the steps
(the record, `perfkit.init/1`) and scaffold.py writes the files."""
