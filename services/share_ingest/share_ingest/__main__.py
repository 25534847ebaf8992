from share_ingest.app import main

main()
