"""python -m policy.rules [--write]: print the rule table, or write it into policy/README.md."""

from policy.rules import main

raise SystemExit(main())
