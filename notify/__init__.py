"""Budget alerts delivered: signed webhooks when a client's spend crosses a threshold."""
