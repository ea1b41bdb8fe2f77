"""`/api/v1/reference`: the reference tables weapons are checked against."""
