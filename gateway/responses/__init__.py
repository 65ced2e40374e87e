"""The Responses API's state: the responses the gateway keeps, per agent, for `previous_response_id`."""
