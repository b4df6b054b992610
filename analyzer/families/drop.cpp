// placeholder: drop importer
