"""One module per `tb-callbacks` command: its arguments (`add_parser`) and what it does (`run`)."""
