"""The structured-output graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent."""

from vision import Classifier, Detector

from braid.authoring import Input, bind, graph

detector = bind(Detector)
classifier = bind(Classifier)

request = Input("request")
detected = detector.detect.bind(request.image)
label = classifier.classify.bind(detected)

# A map of flow values is a structured output; expose= lets requests ask for a step's result.
app = graph({"boxes": detected.boxes, "label": label}, name="structured", expose=[detected])
