"""The live results widget: a page per decision that follows its results over a websocket."""
