"""A local Google Sheets API v4 emulator (a test double, not product code)."""
