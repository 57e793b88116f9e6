// Routes are added below.
