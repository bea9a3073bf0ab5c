"""Reading a plan's monthly drop: finding its files safely and turning them into staged Parquet."""
