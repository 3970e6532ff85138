//! Which Task resources AWS recognises at CreateStateMachine.

/// Optimised integrations as `service:action` with the patterns each allows (`R` request
/// response, `S` `.sync`/`.sync:2`, `W` `.waitForTaskToken`), from the developer guide's
/// "Integrating optimized services" pages. AWS refuses any other `arn:aws:states:::` resource
/// at CreateStateMachine (e.g. `dynamodb:query`, which exists only as `aws-sdk:dynamodb:query`).
const OPTIMISED: &[(&str, &str)] = &[
    ("lambda:invoke", "RW"),
    ("sns:publish", "RW"),
    ("sqs:sendMessage", "RW"),
    ("dynamodb:getItem", "R"),
    ("dynamodb:putItem", "R"),
    ("dynamodb:updateItem", "R"),
    ("dynamodb:deleteItem", "R"),
    ("events:putEvents", "RW"),
    ("apigateway:invoke", "RW"),
    ("http:invoke", "R"),
    ("states:startExecution", "RSW"),
    ("ecs:runTask", "RSW"),
    ("batch:submitJob", "RS"),
    ("glue:startJobRun", "RS"),
    ("databrew:startJobRun", "RS"),
    ("athena:startQueryExecution", "RS"),
    ("athena:stopQueryExecution", "R"),
    ("athena:getQueryExecution", "R"),
    ("athena:getQueryResults", "R"),
    ("codebuild:startBuild", "RS"),
    ("codebuild:stopBuild", "R"),
    ("codebuild:batchDeleteBuilds", "R"),
    ("codebuild:batchGetReports", "R"),
    ("codebuild:startBuildBatch", "RS"),
    ("codebuild:stopBuildBatch", "R"),
    ("codebuild:retryBuild", "RS"),
    ("codebuild:retryBuildBatch", "RS"),
    ("codebuild:deleteBuildBatch", "R"),
    ("eks:createCluster", "RS"),
    ("eks:deleteCluster", "RS"),
    ("eks:createFargateProfile", "RS"),
    ("eks:deleteFargateProfile", "RS"),
    ("eks:createNodegroup", "RS"),
    ("eks:deleteNodegroup", "RS"),
    ("eks:runJob", "RS"),
    ("eks:call", "R"),
    ("elasticmapreduce:createCluster", "RS"),
    ("elasticmapreduce:terminateCluster", "RS"),
    ("elasticmapreduce:addStep", "RS"),
    ("elasticmapreduce:cancelStep", "R"),
    ("elasticmapreduce:setClusterTerminationProtection", "R"),
    ("elasticmapreduce:modifyInstanceFleetByName", "R"),
    ("elasticmapreduce:modifyInstanceGroupByName", "R"),
    ("emr-containers:startJobRun", "RS"),
    ("emr-containers:createVirtualCluster", "R"),
    ("emr-containers:deleteVirtualCluster", "RS"),
    ("emr-serverless:createApplication", "RS"),
    ("emr-serverless:startApplication", "RS"),
    ("emr-serverless:stopApplication", "RS"),
    ("emr-serverless:deleteApplication", "RS"),
    ("emr-serverless:startJobRun", "RS"),
    ("emr-serverless:cancelJobRun", "RS"),
    ("sagemaker:createEndpoint", "R"),
    ("sagemaker:createEndpointConfig", "R"),
    ("sagemaker:createHyperParameterTuningJob", "RS"),
    ("sagemaker:createLabelingJob", "RS"),
    ("sagemaker:createModel", "R"),
    ("sagemaker:createProcessingJob", "RS"),
    ("sagemaker:createTrainingJob", "RS"),
    ("sagemaker:createTransformJob", "RS"),
    ("sagemaker:updateEndpoint", "R"),
    ("mediaconvert:createJob", "RS"),
    ("bedrock:invokeModel", "R"),
    ("bedrock:createModelCustomizationJob", "RS"),
];

/// True for a Task `Resource` Step Functions accepts: an optimised integration with a
/// pattern it supports, an SDK integration (`aws-sdk:<service>:<action>`, no `.sync`), a Lambda
/// function ARN or an activity ARN.
pub(crate) fn resource_recognised(resource: &str) -> bool {
    let Some(rest) = resource
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(':'))
        .and_then(|(_partition, r)| r.strip_prefix("states:::"))
    else {
        let parts: Vec<&str> = resource.split(':').collect();
        return match parts.as_slice() {
            ["arn", _, "lambda", _, _, "function", name, ..] => !name.is_empty(),
            ["arn", _, "states", _, _, "activity", name] => !name.is_empty(),
            _ => false,
        };
    };
    let (action, pattern) = if let Some(a) = rest.strip_suffix(".waitForTaskToken") {
        (a, 'W')
    } else if let Some(a) = rest
        .strip_suffix(".sync:2")
        .or_else(|| rest.strip_suffix(".sync"))
    {
        (a, 'S')
    } else {
        (rest, 'R')
    };
    if let Some(sdk) = action.strip_prefix("aws-sdk:") {
        let ok = sdk
            .split_once(':')
            .is_some_and(|(svc, act)| !svc.is_empty() && !act.is_empty() && !act.contains(':'));
        return ok && pattern != 'S';
    }
    OPTIMISED
        .iter()
        .any(|(a, patterns)| *a == action && patterns.contains(pattern))
}
