from attribution.app import main

main()
