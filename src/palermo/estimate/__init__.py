"""How many victims are we not seeing: multiple-systems estimation (``mse.py``)."""
