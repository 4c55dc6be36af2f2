from pixelrnn.cli import main

raise SystemExit(main())
