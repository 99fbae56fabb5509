"""Word lists for matching German news text: spelling variants, an English-German glossary, strong verbs,
function words. Plain data; rag.text folds and applies them."""

# Spelling variants and transliterations; each maps to the form the articles use.
SPELLINGS: dict[str, str] = {
    "lavrov": "lawrow", "lavrow": "lawrow", "lawrov": "lawrow",
    "sergey": "sergej", "sergei": "sergej",
    "geneva": "genf", "geneve": "genf", "genève": "genf",
    "new delhi": "neu delhi", "neu-delhi": "neu delhi", "newdelhi": "neu delhi",
    "kyiv": "kiew", "kiev": "kiew",
    "zelensky": "selenskyj", "zelenskyy": "selenskyj", "selensky": "selenskyj",
    "peskov": "peskow", "volodin": "wolodin", "kuleba": "kuleba",
}  # fmt: skip

# Common English news words in the German the articles use, so an English question finds German text.
ENGLISH_TO_GERMAN: dict[str, str] = {
    "russia": "russland", "india": "indien", "china": "china", "germany": "deutschland",
    "switzerland": "schweiz", "estonia": "estland", "latvia": "lettland", "lithuania": "litauen",
    "poland": "polen", "romania": "rumänien", "bulgaria": "bulgarien", "belarus": "belarus",
    "united states": "usa", "britain": "grossbritannien", "moscow": "moskau", "washington": "washington",
    "foreign minister": "außenminister", "foreign ministers": "außenminister", "president": "präsident",
    "spokesman": "sprecher", "spokesperson": "sprecher", "newspaper": "zeitung", "expert": "expertin",
    "talks": "gespräch", "talk": "gespräch", "conversation": "gespräch", "meeting": "treffen",
    "summit": "gipfel", "invasion": "invasion", "troops": "truppen", "soldiers": "soldaten",
    "soldier": "soldat", "british": "britische", "russian": "russische", "american": "amerikanische",
    "ukrainian": "ukrainische", "chinese": "chinesische", "stationed": "stationiert", "border": "grenze",
    "release": "freilassung", "prison": "gefängnis", "arrested": "festgenommen", "sentenced": "verurteilt",
    "treaty": "vertrag", "agreement": "abkommen", "disarmament": "abrüstung", "sanctions": "sanktionen",
    "weapons": "waffen", "exercise": "übung", "minutes": "minuten", "hours": "stunden", "week": "woche",
    "said": "sagte", "called": "nannte", "support": "unterstützung", "cooperation": "zusammenarbeit",
    "diplomacy": "diplomatie", "crisis": "krise", "hotel": "hotel", "lake": "see",
}  # fmt: skip

# Strong verb forms a stemmer cannot bring together with their infinitive.
STRONG_VERBS: dict[str, str] = {
    **dict.fromkeys("traf trafen trifft triffst getroffen met meet meets".split(), "treffen"),
    **dict.fromkeys("sprach sprachen spricht gesprochen".split(), "sprechen"),
    **dict.fromkeys("kam kamen kommt gekommen".split(), "kommen"),
    **dict.fromkeys("fand fanden findet gefunden".split(), "finden"),
    **dict.fromkeys("sah sahen sieht gesehen".split(), "sehen"),
    **dict.fromkeys("nannte nannten nennt genannt".split(), "nennen"),
    **dict.fromkeys("verließ verließen verlässt verlassen".split(), "verlassen"),
    **dict.fromkeys("warf warfen wirft geworfen".split(), "werfen"),
    **dict.fromkeys("bat baten bittet gebeten".split(), "bitten"),
    **dict.fromkeys("hielt hielten hält gehalten".split(), "halten"),
    **dict.fromkeys("rief riefen ruft gerufen".split(), "rufen"),
    **dict.fromkeys("gab gaben gibt gegeben".split(), "geben"),
    **dict.fromkeys("blieb blieben bleibt geblieben".split(), "bleiben"),
    **dict.fromkeys("begegnet begegneten begegnete".split(), "begegnen"),
    **dict.fromkeys("nahm nahmen nimmt genommen".split(), "nehmen"),
    **dict.fromkeys("zog zogen zieht gezogen".split(), "ziehen"),
    **dict.fromkeys("schrieb schrieben schreibt geschrieben".split(), "schreiben"),
}

# Function words of German and English questions: they carry no evidence.
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
