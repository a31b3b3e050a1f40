"""The main window, the application start-up (`inspector`, `inspector demo`) and files sent by the desktop."""
