from reward.app import main

main()
