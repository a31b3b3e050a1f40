"""The event list (Wireshark's packet list): its model, the filter bar and the sources tree."""
