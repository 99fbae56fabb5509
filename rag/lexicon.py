"""Function words of German and English questions: they carry no evidence. Plain data; rag.text applies it."""

STOPWORDS = """
    a ab als am an auch auf aus bei bin bis da das dass dem den der des die dies diese diesem diesen dieser doch du
    ein eine einem einen einer eines er es für gegen hat hatte hatten haben ich ihr im in ist ja kann mit nach
    nicht noch nun nur ob oder sein seine seinem seinen seiner sich sie sind so über um und uns vom von vor war waren
    was welche welchem welchen welcher welches wem wen wer werden wie wo wurde wurden zu zum zur warum wann wieso
    weshalb wohin woher womit worüber wodurch wieviel wieviele viel viele vielen lange wessen is
    will wollen wollte wollten soll sollen sollte sollten muss müssen musste darf dürfen könnte könnten wird
    the and or of in on at to for with from by is are was were did do does what where when who whom which how
    many much long why into about after before their his her its this that these those be been has have had
    between last
""".split()
