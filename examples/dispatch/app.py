"""Both dispatch graphs declared in Python.

`braid build app.py:app` writes graph.yaml's equivalent (dispatch in code, through handles), and
`braid build app.py:declarative` graph-declarative.yaml's (dispatch in the flow).
"""

from languages import FrenchResponder, LanguageClassifier, SpanishResponder

from braid.authoring import Input, bind, dispatch, graph

spanish = bind(SpanishResponder)
french = bind(FrenchResponder)
# Bound nodes passed to a constructor become handles, under the argument's name.
classifier = bind(LanguageClassifier, spanish=spanish, french=french)

request = Input("request")
greeting = classifier.classify.bind(request)

app = graph(greeting, name="languages")

# The same choice made by the flow itself: `request.language` is `$request.language`.
declarative = graph(
    dispatch(
        request.language,
        {
            "spanish": spanish.say_hello.bind(request.name),
            "french": french.say_hello.bind(request.name),
        },
    ).named("greeting"),
    name="languages-declarative",
)
