"""The Snowflake UDF. `handler.py` is uploaded as-is and must not import this project."""
