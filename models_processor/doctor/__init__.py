"""`python -m models_processor doctor`: checks everything the service needs and says what to fix."""
