from ds_emulator.server import main

main()
